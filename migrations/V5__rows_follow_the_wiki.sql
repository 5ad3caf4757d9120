-- A stored contribution follows its edit on the wiki: when the page is deleted or the
-- revision's text or author hidden, the row is marked deleted and left out of every total,
-- list, feed, export and page; a restore clears the mark. `rechecked_at` is when the wiki was
-- last asked, so that each periodic run takes the rows checked longest ago first.
ALTER TABLE ce_associate_edit_to_event
    ADD COLUMN deleted boolean NOT NULL DEFAULT false,
    ADD COLUMN rechecked_at timestamptz;
CREATE INDEX ce_contributions_recheck
    ON ce_associate_edit_to_event (event_id, rechecked_at NULLS FIRST, id);
