// Package agiclient is the FastAGI side of the Asterisk double: it dials a FastAGI
// server exactly as Asterisk 22's AGI() application does, sends the agi_*
// environment (the keys and order of the recorded agi_admit_1), and answers
// commands as Asterisk does (GET/SET VARIABLE, GET FULL VARIABLE, the multi-line 520
// usage replies, 510, 511 on a dead channel after an unsolicited HANGUP). It records
// what the server set and how the session ended, as the AGISTATUS Asterisk would set.
//
// It is written from the recordings in fixtures/asterisk (agi_*), not from the code
// under test: its command parser follows Asterisk's parse_args (res_agi.c).
//
// Neighbours: internal/asterisksim and the tests call licbridge's FastAGI
// server (package dialplan) through it; it imports nothing of licbridge's.
package agiclient
