// Package asterisksim is the Asterisk double as a whole: a PBX that drives the
// AMI double (amisrv), the ARI double (arisrv) and the FastAGI client
// (agiclient) together, so that one scripted call looks to licbridge as it
// would from a real Asterisk 22: channels with a Uniqueid and Linkedid
// (Newchannel, Newstate), the two halves of a Local channel sharing a
// Linkedid, admission through AGI(agi://...) or Stasis(licbridge,admit,...),
// the variables that admission set visible to AMI Getvar, the native audio
// format that CHANNEL(audionativeformat) answers, fax sessions (FAXStatus,
// ReceiveFAX, FAXStats) and hangups (AMI HangupRequest/Hangup, ARI
// ChannelHangupRequest/StasisEnd).
//
// It serves tests and `licbridge demo`. A PBX is safe for concurrent use.
//
// Neighbours: below it, amisrv and arisrv (its AMI and ARI servers) and
// agiclient (its FastAGI caller); daemon/demo plays it, and tests use it for
// faults a real Asterisk cannot make on demand.
package asterisksim
