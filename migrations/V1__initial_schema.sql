-- campaign-events schema, version 1.
-- Times are timestamptz (UTC on the wire); ids are bigint; soft deletes keep history for reports.

-- Every participant or event change takes the next value, so a change's version says which of
-- two changes is newer, across users and across service instances (ARCHITECTURE invariant 4).
CREATE SEQUENCE ce_change_version_seq AS bigint;

CREATE TABLE ce_events (
    event_id            bigserial PRIMARY KEY,
    name                text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
    start_utc           timestamptz NOT NULL,
    end_utc             timestamptz NOT NULL,
    timezone            text        NOT NULL,
    status              text        NOT NULL CHECK (status IN ('open', 'closed')),
    track_contributions boolean     NOT NULL DEFAULT false,
    -- true: the event counts edits on every wiki and ce_event_wikis has no rows for it.
    all_wikis           boolean     NOT NULL DEFAULT false,
    version             bigint      NOT NULL DEFAULT nextval('ce_change_version_seq'),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    deleted_at          timestamptz,
    CHECK (end_utc > start_utc)
);

-- "Which events are ongoing (or start soon)?" — warm-up, the start timeline and the sweep.
CREATE INDEX ce_events_window ON ce_events (end_utc, start_utc) WHERE deleted_at IS NULL;

CREATE TABLE ce_event_wikis (
    event_id bigint NOT NULL REFERENCES ce_events (event_id) ON DELETE CASCADE,
    wiki_id  text   NOT NULL CHECK (wiki_id ~ '^[a-z0-9_-]{1,64}$'),
    PRIMARY KEY (event_id, wiki_id)
);

CREATE TABLE ce_event_organizers (
    event_id   bigint      NOT NULL REFERENCES ce_events (event_id) ON DELETE CASCADE,
    user_id    bigint      NOT NULL CHECK (user_id > 0),
    user_name  text        NOT NULL,
    -- 'creator' for the user who created the event; room for co-organizers later.
    role       text        NOT NULL DEFAULT 'creator',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX ce_event_organizers_user ON ce_event_organizers (user_id);

CREATE TABLE ce_participants (
    event_id        bigint      NOT NULL REFERENCES ce_events (event_id) ON DELETE CASCADE,
    user_id         bigint      NOT NULL CHECK (user_id > 0),
    private         boolean     NOT NULL DEFAULT false,
    registered_at   timestamptz NOT NULL,
    -- Soft delete: re-registering clears it and reuses the row.
    unregistered_at timestamptz,
    -- When the latest applied change happened (a NATS command's `at`): an older command changes
    -- nothing, whatever order the commands arrive in.
    last_change_at  timestamptz NOT NULL,
    version         bigint      NOT NULL DEFAULT nextval('ce_change_version_seq'),
    PRIMARY KEY (event_id, user_id)
);
-- "Ongoing events of a user" (the database read and CACHE_MODE=db).
CREATE INDEX ce_participants_active_user ON ce_participants (user_id, event_id)
    WHERE unregistered_at IS NULL;
-- "Participants of ongoing events" (warm-up and starts) scan by event over the active rows.
CREATE INDEX ce_participants_active_event ON ce_participants (event_id, user_id)
    WHERE unregistered_at IS NULL;

-- One row per associated edit; (wiki_id, revision_id) is the edit's stable key.
CREATE TABLE ce_associate_edit_to_event (
    id                 bigserial   PRIMARY KEY,
    event_id           bigint      NOT NULL REFERENCES ce_events (event_id),
    user_id            bigint      NOT NULL CHECK (user_id > 0),
    user_name          text        NOT NULL,
    wiki_id            text        NOT NULL,
    revision_id        bigint      NOT NULL CHECK (revision_id > 0),
    parent_revision_id bigint,
    page_id            bigint      NOT NULL,
    page_title         text        NOT NULL,
    namespace          integer     NOT NULL,
    bytes_added        bigint      NOT NULL CHECK (bytes_added >= 0),
    bytes_removed      bigint      NOT NULL CHECK (bytes_removed >= 0),
    chars_added        bigint      NOT NULL CHECK (chars_added >= 0),
    chars_removed      bigint      NOT NULL CHECK (chars_removed >= 0),
    links_added        integer     NOT NULL CHECK (links_added >= 0),
    links_removed      integer     NOT NULL CHECK (links_removed >= 0),
    refs_added         integer     NOT NULL CHECK (refs_added >= 0),
    refs_removed       integer     NOT NULL CHECK (refs_removed >= 0),
    is_new_article     boolean     NOT NULL,
    rev_timestamp      timestamptz NOT NULL,
    associated_at      timestamptz NOT NULL,
    stored_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (wiki_id, revision_id)
);
-- Reports list an event's contributions newest first with a stable continuation.
CREATE INDEX ce_contributions_event ON ce_associate_edit_to_event (event_id, rev_timestamp DESC, id DESC);

-- Jobs that could not become a row, with the reason; one per edit key.
CREATE TABLE ce_dead_letters (
    id          bigserial   PRIMARY KEY,
    wiki_id     text        NOT NULL,
    revision_id bigint      NOT NULL,
    event_id    bigint      NOT NULL,
    user_id     bigint      NOT NULL,
    reason      text        NOT NULL,
    detail      text        NOT NULL DEFAULT '',
    deliveries  integer     NOT NULL DEFAULT 0,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    retried_at  timestamptz,
    UNIQUE (wiki_id, revision_id)
);

-- Registration commands from NATS that were terminated, and why.
CREATE TABLE ce_rejected_commands (
    id          bigserial   PRIMARY KEY,
    subject     text        NOT NULL,
    stream_seq  bigint,
    reason      text        NOT NULL,
    payload     bytea       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
