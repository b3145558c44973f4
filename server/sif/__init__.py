"""The SIF zone: this server as a ZIS and the zone's LearnerPersonal provider."""
