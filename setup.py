# Metadata lives in setup.cfg; this file exists for Beam's --setup_file (Dataflow workers install the package).
from setuptools import setup

setup()
