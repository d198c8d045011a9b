"""From a trained model to a served one: ``infra_validator`` (does it serve?) and ``pusher`` (serving dir, registry)."""
