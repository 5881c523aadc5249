package sipmon

// heapPush and heapPop are container/heap's Push and Pop on a typed slice:
// container/heap boxes every element in an interface, an allocation per push
// and per pop, which was a measurable part of reading the 15,000-call capture.
func heapPush[T any](h []T, x T, less func(a, b *T) bool) []T {
	h = append(h, x)
	for j := len(h) - 1; j > 0; {
		i := (j - 1) / 2
		if !less(&h[j], &h[i]) {
			break
		}
		h[i], h[j] = h[j], h[i]
		j = i
	}
	return h
}

// heapPop removes and returns the least element; h must not be empty.
func heapPop[T any](h []T, less func(a, b *T) bool) (T, []T) {
	n := len(h) - 1
	h[0], h[n] = h[n], h[0]
	for i := 0; ; {
		j := 2*i + 1
		if j >= n {
			break
		}
		if j2 := j + 1; j2 < n && less(&h[j2], &h[j]) {
			j = j2
		}
		if !less(&h[j], &h[i]) {
			break
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
	x := h[n]
	var zero T
	h[n] = zero
	return x, h[:n]
}
