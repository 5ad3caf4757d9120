-- A participant may ask not to be prompted, after their edits, whether an edit was for this
-- event (the CampaignEvents extension's `hide_contribution_association_prompt`). Changing it
-- bumps the row's version like any other change, so the cache and the change stream carry it
-- with the membership. A constant default: no table rewrite.
ALTER TABLE ce_participants ADD COLUMN hide_prompt boolean NOT NULL DEFAULT false;
