"""The trial's size, the scale every "at the trial's size" figure of the bench is computed at.

The failed manual trial: about 2.4 M users per country, six months of purchases and views (15-26 GB of raw CSV per
country; the midpoint is used), 1.9 GB of prepared interactions.
"""

from __future__ import annotations

TRIAL_USERS = 2_400_000
TRIAL_WINDOW_DAYS = 183
TRIAL_EVENTS_GB = (15 + 26) / 2
# The users export: a full snapshot, then ~1 % of users changed per day (upserts), ~60 bytes per row.
USER_CHANGES_PER_DAY = 0.01
USERS_ROW_BYTES = 60
TRIAL_USERS_GB = TRIAL_USERS * (1 + USER_CHANGES_PER_DAY * TRIAL_WINDOW_DAYS) * USERS_ROW_BYTES / 1e9
TRIAL_CONTENTS_GB = 0.02  # tens of thousands of titles
TRIAL_PREPARED_GB = {"prepared_interactions": 1.9, "prepared_users": 0.1, "prepared_items": 0.01}
TRIAL_BATCH_GB = TRIAL_USERS * 25 * 12 / 1e9  # an all-users batch output: 25 ids of ~12 bytes per user
