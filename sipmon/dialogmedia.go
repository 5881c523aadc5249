// A dialog's memory of the payloads it saw and the SDP offers awaiting an answer.

package sipmon

func (d *dialog) sawPayload(h uint64) bool {
	for i := range d.nSeen {
		if d.seen[i] == h {
			return true
		}
	}
	return false
}

func (d *dialog) rememberPayload(h uint64) {
	d.seen[d.seenAt] = h
	d.seenAt = (d.seenAt + 1) % uint8(len(d.seen))
	d.nSeen = min(d.nSeen+1, uint8(len(d.seen)))
}

func (d *dialog) addOffer(o offer) {
	if _, ok := d.findOffer(o.cseq, o.byCaller); ok {
		return
	}
	var f uint8
	if o.byCaller {
		f |= offerByCaller
	}
	if o.sdp {
		f |= offerSDP
	}
	d.offerCSeq[d.offerAt], d.offerFlags[d.offerAt] = o.cseq, f
	d.offerAt = (d.offerAt + 1) % uint8(len(d.offerCSeq))
	d.nOffer = min(d.nOffer+1, uint8(len(d.offerCSeq)))
}

func (d *dialog) findOffer(cseq uint32, byCaller bool) (offer, bool) {
	for i := range d.nOffer {
		f := d.offerFlags[i]
		if d.offerCSeq[i] == cseq && (f&offerByCaller != 0) == byCaller {
			return offer{cseq: cseq, byCaller: byCaller, sdp: f&offerSDP != 0}, true
		}
	}
	return offer{}, false
}
