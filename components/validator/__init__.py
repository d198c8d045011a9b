"""Data validation: statistics, schema inference and anomalies (TFX's StatisticsGen, SchemaGen
and ExampleValidator, on Arrow and Beam). Document formats live in ``formats``."""
