"""Pixel Warden: decides, for every remote resource of an e-mail, whether it may load."""

# The one version number of the project: the build writes it into the add-on and the host manifests.
__version__ = "0.1.0"
