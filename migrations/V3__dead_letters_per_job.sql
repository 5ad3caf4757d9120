-- A dead letter records one job: an edit, the event it was to count for, and who asked.
-- Keyed by the edit alone, a second failed job (another event, another user) overwrote the
-- first one's record, and a row stored for one event deleted another event's dead letter.
ALTER TABLE ce_dead_letters DROP CONSTRAINT ce_dead_letters_wiki_id_revision_id_key;
ALTER TABLE ce_dead_letters
    ADD CONSTRAINT ce_dead_letters_job_key UNIQUE (wiki_id, revision_id, event_id, user_id);
