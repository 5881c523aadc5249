package license

import "fmt"

// CheckIssue applies the product rules that hold when a key is issued, before it
// is signed: a one-per-host product (ffa, Free Fax) is exactly one channel, since
// a host may hold only one such key.
func CheckIssue(p Product, channels int) error {
	if channels <= 0 || channels > MaxChannels {
		return fmt.Errorf("want 1 to %d channels", MaxChannels)
	}
	if p.OnePerHost && channels != 1 {
		return fmt.Errorf("product %s is exactly one channel per key (a host holds one %s key)", p.Name, p.Name)
	}
	return nil
}
