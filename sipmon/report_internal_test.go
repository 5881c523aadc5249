package sipmon

import "time"

// buildReport counts legs as the Monitor's report does, all at once.
func buildReport(legs []Leg, correlate bool, tol time.Duration) *Report {
	cfg := Config{SensorTolerance: tol}.withDefaults()
	if correlate {
		cfg.CorrelationHeader = "X-CID"
	}
	var dropped int64
	rp := newReporter(&cfg, nil, &dropped)
	for i := range legs {
		rp.add(&record{first: legs[i]})
	}
	rp.advance(time.Time{}, time.Time{}, true)
	return rp.report()
}
