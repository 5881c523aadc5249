// Package admin is the node's admin HTTP server: JSON under /api/v1/,
// Prometheus metrics at /metrics, /healthz and /readyz, and a status page at /.
//
// Security: the server listens on loopback by default (127.0.0.1:8089). It
// refuses to start on any other address without a bearer token. When a token
// is set, every request must carry "Authorization: Bearer <token>" (compared
// in constant time; the token is never logged), except the status page's own
// files (/, /static/...), which hold no data: the page's script asks for the
// token once, keeps it in the tab's sessionStorage (gone when the tab closes)
// and sends it with each API call. It also accepts it once in the address
// fragment (http://node:8089/#token=...), which browsers never send to the
// server, and removes it from the address bar at once.
//
// Endpoints (all GET): /api/v1/view (everything the page shows: package
// view's View, with the node's Health in it),
// /api/v1/licenses, /api/v1/channels, /api/v1/state (over-limit states),
// /api/v1/stats?product=P&days=N (N from 1 to 14, default 14), /metrics,
// /healthz (the process is up), /readyz (200 when every Health component is
// OK, else 503, with the components in the body). Errors are JSON
// {"error": "..."}.
//
// The data comes through Source (bridge/node.Source builds it), health
// through Health; admin imports no bridge package, only view. The server
// itself keeps no state but its Metrics. With Options.AddrFile it records
// its address while it runs, for licbridge show licenses.
//
// Neighbours: it imports view and nothing else of licbridge's; daemon builds
// it with a Source and Health from bridge/node.
package admin
