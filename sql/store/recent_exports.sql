-- A user's exports in the last hour, and when the oldest of the newest $2
-- leaves the window (the next export the rate limit allows).
SELECT (SELECT count(*) FROM export_system.export_logs
        WHERE user_id = $1::uuid AND "timestamp" > now() - interval '1 hour'),
       (SELECT to_char(("timestamp" + interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
        FROM export_system.export_logs
        WHERE user_id = $1::uuid AND "timestamp" > now() - interval '1 hour'
        ORDER BY "timestamp" DESC OFFSET $2 - 1 LIMIT 1)
