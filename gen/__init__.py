"""Generation stage: IFS sampling, motion, instances, the chaos game, framing, tone mapping."""
