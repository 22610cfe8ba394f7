from fractalvid.pipelines.cli import main

main()
