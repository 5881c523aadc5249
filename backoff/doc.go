// Package backoff is the one reconnect policy of licbridge's clients (AMI, ARI,
// the counter store): exponential delays with "equal jitter", and a sleep that
// honours the context.
//
// Neighbours: ami, ari, sipmon (reopening its inputs) and bridge (the store's
// recovery) use it; it imports nothing of licbridge's.
package backoff
