"""Versions, frames and signatures are append-only in the database; signed content can never change."""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION annotation_refuse_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

-- Deleting unsigned history is allowed (a project being deleted); signed history never goes.
CREATE OR REPLACE FUNCTION annotation_refuse_signed_delete() RETURNS trigger AS $$
DECLARE
    version_id bigint;
BEGIN
    IF TG_TABLE_NAME = 'annotation_maskversion' THEN
        version_id := OLD.id;
    ELSE
        version_id := OLD.version_id;
    END IF;
    IF EXISTS (SELECT 1 FROM annotation_signoff s
               JOIN annotation_maskversion v ON v.id = s.version_id
               WHERE v.annotation_id = (SELECT annotation_id FROM annotation_maskversion WHERE id = version_id)
                 AND v.number >= (SELECT number FROM annotation_maskversion WHERE id = version_id)) THEN
        RAISE EXCEPTION '% row belongs to a signed annotation: DELETE refused', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER maskversion_no_update BEFORE UPDATE ON annotation_maskversion
    FOR EACH ROW EXECUTE FUNCTION annotation_refuse_update();
CREATE TRIGGER maskframe_no_update BEFORE UPDATE ON annotation_maskframe
    FOR EACH ROW EXECUTE FUNCTION annotation_refuse_update();
CREATE TRIGGER signoff_no_update BEFORE UPDATE OR DELETE ON annotation_signoff
    FOR EACH ROW EXECUTE FUNCTION annotation_refuse_update();
CREATE TRIGGER maskversion_signed_no_delete BEFORE DELETE ON annotation_maskversion
    FOR EACH ROW EXECUTE FUNCTION annotation_refuse_signed_delete();
CREATE TRIGGER maskframe_signed_no_delete BEFORE DELETE ON annotation_maskframe
    FOR EACH ROW EXECUTE FUNCTION annotation_refuse_signed_delete();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS maskframe_signed_no_delete ON annotation_maskframe;
DROP TRIGGER IF EXISTS maskversion_signed_no_delete ON annotation_maskversion;
DROP TRIGGER IF EXISTS signoff_no_update ON annotation_signoff;
DROP TRIGGER IF EXISTS maskframe_no_update ON annotation_maskframe;
DROP TRIGGER IF EXISTS maskversion_no_update ON annotation_maskversion;
DROP FUNCTION IF EXISTS annotation_refuse_signed_delete();
DROP FUNCTION IF EXISTS annotation_refuse_update();
"""


class Migration(migrations.Migration):
    dependencies = [("annotation", "0004_case_annotation_draftframe_exportjob_and_more")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
