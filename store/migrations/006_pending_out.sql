-- How many of a message's outgoing mails are still pending, kept by triggers. ReadyToMove
-- looked that up in the outbox for every decided message on every pass, and a backlog has
-- thousands of decided messages waiting for their sends: its cost grew with the square of
-- the backlog. Now a pass reads the movable messages from their own index.
ALTER TABLE messages ADD COLUMN pending_out INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET pending_out = (SELECT count(*) FROM outbox o WHERE o.message = messages.id AND o.state = 'pending');

CREATE TRIGGER outbox_pending_added AFTER INSERT ON outbox WHEN NEW.state = 'pending'
BEGIN
    UPDATE messages SET pending_out = pending_out + 1 WHERE id = NEW.message;
END;

CREATE TRIGGER outbox_pending_left AFTER UPDATE OF state ON outbox WHEN OLD.state = 'pending' AND NEW.state <> 'pending'
BEGIN
    UPDATE messages SET pending_out = pending_out - 1 WHERE id = NEW.message;
END;

CREATE TRIGGER outbox_pending_again AFTER UPDATE OF state ON outbox WHEN OLD.state <> 'pending' AND NEW.state = 'pending'
BEGIN
    UPDATE messages SET pending_out = pending_out + 1 WHERE id = NEW.message;
END;

CREATE TRIGGER outbox_pending_removed AFTER DELETE ON outbox WHEN OLD.state = 'pending'
BEGIN
    UPDATE messages SET pending_out = pending_out - 1 WHERE id = OLD.message;
END;

CREATE INDEX messages_movable ON messages (inbox, mailbox, id) WHERE state = 'decided' AND pending_out = 0;
