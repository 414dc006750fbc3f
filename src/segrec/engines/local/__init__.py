"""The single-machine engine's stages: segmentation outputs (:mod:`.segment`) and the trained recommender with
its bundle and recommendations (:mod:`.train`)."""
