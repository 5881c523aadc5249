// Package bypass turns "more use seen than admitted" into an alert: when the
// use observed of a product (call legs on the wire from the SIP monitor, or
// channels AMI passive accounting sees) stays above the channels admitted for
// longer than a settable time, the product is in bypass until observed use
// falls back to admitted use or below.
//
// The Detector is the rule alone, fed with (product, observed, admitted, now);
// Source wraps the admin server's data source, feeds the Detector from each
// view, marks the view's products and logs and counts the changes.
//
// Neighbours: it compares the use it is given as a view (bridge/node's Source
// counts it); bridge/node and daemon run it and show its state.
package bypass
