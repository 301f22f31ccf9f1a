-- Visitor ids are keyed by HMAC(INTENT_SECRET, the day's salt), so the salt alone no longer
-- reproduces an id (collector/writer.py Salts). The secret itself is never stored: this column
-- holds a check value of it (scrypt), so a replica with another secret notices. A salt written
-- before this column existed has '' and keeps being used as it is until it expires (2 days).
ALTER TABLE salts ${ON_CLUSTER} ADD COLUMN IF NOT EXISTS secret_check String DEFAULT '';
