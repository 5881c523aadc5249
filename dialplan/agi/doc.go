// Package agi is the FastAGI line protocol as Asterisk 22 speaks it: the agi_*
// environment block, commands with Asterisk's own quoting rules, and replies (one
// line, the multi-line 520 usage text, and the unsolicited HANGUP notice).
//
// It is written here instead of using github.com/CyCoreSystems/agi v0.6.4 (pinned in
// go.mod) because the defects of that version sit exactly in this layer, so a thin
// wrapper would have had to replace all of it (see ASTERISK-NOTES.md):
//   - Set does not quote values: a value with a space draws a multi-line 520 of which
//     only the first line is read, and every later reply is shifted by one;
//   - after an unsolicited HANGUP the next command gets ErrHangup while its real reply
//     stays queued, shifting the rest; Answer on a dead channel hides the 511;
//   - Listen takes no context and has no shutdown.
//
// The package holds no business rules: the FastAGI server in package dialplan decides
// what to ask and what to set.
//
// Neighbours: package dialplan (above) is its one user; it imports nothing of
// licbridge's.
package agi
