"""The service layer: the export API the gRPC edge translates to (create, watch,
cancel, resume), the runner that schedules export runs, live events, and the admin
operations on committed exports (verify, diff, delete, retention)."""
