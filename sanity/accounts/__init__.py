"""The accounts stage: users, their tags (and the training sets recommendations learn
from), saved searches, library export and restore. Never imports the engine."""
