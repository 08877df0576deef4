-- A sent event names the recipients its queued event named already: every outgoing
-- message is queued, with its queued event, before it can be sent. The trigger that
-- added a case's addresses on both only looked them up again on the second.
DROP TRIGGER case_addresses_sent;
CREATE TRIGGER case_addresses_queued AFTER INSERT ON events WHEN NEW.type = 'queued'
BEGIN
    INSERT OR IGNORE INTO case_addresses (address, case_ref, first_at)
        SELECT lower(value), NEW.case_ref, NEW.at FROM json_each(NEW.data, '$.to');
END;
