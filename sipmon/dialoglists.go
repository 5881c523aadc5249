// The dialog lists the tracker keeps: by last activity (eviction, timeouts)
// and by start (the oldest still open bounds what the report may count).

package sipmon

// dlist is an intrusive doubly linked list ordered by lastSeen (oldest first).
type dlist struct {
	head, tail *dialog
	n          int
}

func (l *dlist) pushBack(d *dialog) {
	d.prev, d.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = d
	} else {
		l.head = d
	}
	l.tail = d
	l.n++
}

func (l *dlist) remove(d *dialog) {
	if d.prev != nil {
		d.prev.next = d.next
	} else {
		l.head = d.next
	}
	if d.next != nil {
		d.next.prev = d.prev
	} else {
		l.tail = d.prev
	}
	d.prev, d.next = nil, nil
	l.n--
}

// startList holds dialogs in the order of their first INVITE, oldest first,
// so that the start of the oldest dialog still in the table (whose leg is yet
// to come) is known at once: the report cannot count past it.
type startList struct{ head, tail *dialog }

// insert places d by its start, searching from the back: dialogs mostly
// arrive in start order.
func (l *startList) insert(d *dialog) {
	at := l.tail
	for at != nil && at.invite > d.invite {
		at = at.sprev
	}
	d.sprev = at
	if at == nil {
		d.snext, l.head = l.head, d
	} else {
		d.snext, at.snext = at.snext, d
	}
	if d.snext == nil {
		l.tail = d
	} else {
		d.snext.sprev = d
	}
}

func (l *startList) remove(d *dialog) {
	if d.sprev != nil {
		d.sprev.snext = d.snext
	} else {
		l.head = d.snext
	}
	if d.snext != nil {
		d.snext.sprev = d.sprev
	} else {
		l.tail = d.sprev
	}
	d.sprev, d.snext = nil, nil
}
