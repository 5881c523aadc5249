package license

import "testing"

func TestCheckIssue(t *testing.T) {
	cat, err := NewCatalog()
	if err != nil {
		t.Fatal(err)
	}
	ffa, _ := cat.Lookup("ffa")
	g729, _ := cat.Lookup("g729")
	for _, tc := range []struct {
		p        Product
		channels int
		ok       bool
	}{
		{ffa, 1, true},
		{ffa, 3, false},
		{ffa, 0, false},
		{g729, 10, true},
		{g729, 0, false},
		{g729, MaxChannels + 1, false},
	} {
		err := CheckIssue(tc.p, tc.channels)
		if (err == nil) != tc.ok {
			t.Errorf("CheckIssue(%s, %d) = %v, want ok=%v", tc.p.Name, tc.channels, err, tc.ok)
		}
	}
}
