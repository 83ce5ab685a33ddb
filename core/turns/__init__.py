"""A turn's life: rules, plan, replay, run, lifecycle, runner, costs."""
