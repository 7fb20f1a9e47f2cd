-- (none) -> queued: the export's audit row and the identity its job runs as
-- (the caller's role and JWT claims, with the subject made explicit).
WITH logged AS (
  INSERT INTO export_system.export_logs (export_id, user_id, db_role, format, config, status, delivery, saved_export)
  VALUES ($1::uuid, $2::uuid, $3, $4, $5, 'queued', 'background', $5 OPERATOR(pg_catalog.->>) 'saved')
  RETURNING export_id)
INSERT INTO export_system.export_jobs (export_id, db_role, jwt_claims)
SELECT export_id, $3,
       COALESCE(NULLIF(pg_catalog.current_setting('request.jwt.claims', true), '')::jsonb, '{}')
       || CASE WHEN $2 IS NULL THEN '{}'::jsonb ELSE pg_catalog.jsonb_build_object('sub', $2) END
FROM logged
