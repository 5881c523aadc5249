// Package q850 holds Asterisk's names for the Q.850 hangup causes that the AMI
// and ARI doubles report (Hangup's Cause-txt, ChannelDestroyed's cause_txt).
//
// Neighbours: amisrv and arisrv use it; it imports nothing.
package q850
