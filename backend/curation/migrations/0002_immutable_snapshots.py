"""Snapshots are records: the database refuses UPDATE and DELETE of snapshot and snapshot item rows.

TRUNCATE is left to privileges (as for the audit log): the test runner empties tables with it.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION curation_snapshot_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is immutable: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER curation_snapshot_immutable
    BEFORE UPDATE OR DELETE ON curation_snapshot
    FOR EACH ROW EXECUTE FUNCTION curation_snapshot_refuse_change();
CREATE TRIGGER curation_snapshotitem_immutable
    BEFORE UPDATE OR DELETE ON curation_snapshotitem
    FOR EACH ROW EXECUTE FUNCTION curation_snapshot_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS curation_snapshotitem_immutable ON curation_snapshotitem;
DROP TRIGGER IF EXISTS curation_snapshot_immutable ON curation_snapshot;
DROP FUNCTION IF EXISTS curation_snapshot_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("curation", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
