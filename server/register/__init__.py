"""The learner and provider register: identifiers, learners, merges, authentication and audit."""
