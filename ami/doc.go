// Package ami is licbridge's Asterisk Manager Interface client: one TCP
// connection that logs in, streams events and runs actions, kept alive and
// re-established with backoff.
//
// Why most of it is ours and not github.com/heltonmarx/goami (pinned): that
// library passes every outgoing message to Fprintf as the format (a "%" in a
// value is corrupted), takes "the next message" as the answer to an action (no
// ActionID correlation, so a list action shifts every later answer), lets event
// reads and action reads tear each other's messages apart on one socket, loses
// a partly read message on a context timeout, reports a failed login as EOF and
// never notices that Asterisk went away (see ASTERISK-NOTES.md). Here a single
// reader goroutine owns the socket (package ami/proto does the framing), answers
// are matched to actions by ActionID (list items included), and events go to a
// queue of their own. goami is still used for what it gets right: its action and
// header naming, through its own encoders (Login, Originate), whose output we
// re-frame and send ourselves (see goami.go).
//
// Values are never sanitised silently: a CR, LF or NUL in any header value
// (a caller ID, a variable) makes the action fail with proto.ErrUnsafeValue
// before anything is written, so no value can inject a header.
//
// Neighbours: ami/proto (below) reads and writes the wire format and backoff
// paces the reconnects; bridge/node (above) follows channels and runs actions
// through a Client, which daemon builds. It knows nothing of licences.
package ami
