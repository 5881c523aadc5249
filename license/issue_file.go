package license

import (
	"io"
	"time"
)

// WriteFile mints the key in describes (NewKey at now), signs it with the
// issuer private key read from keyFile and writes it to out, replacing a
// file there only when force (licbridge license issue).
func (in IssueInput) WriteFile(cat *Catalog, now time.Time, keyFile, out string, force bool) (*Key, error) {
	k, err := in.NewKey(cat, now)
	if err != nil {
		return nil, err
	}
	priv, err := ReadPrivateKeyFile(keyFile)
	if err != nil {
		return nil, err
	}
	Sign(k, priv)
	if err := CreateFile(out, 0o644, force, func(w io.Writer) error { _, err := k.WriteTo(w); return err }); err != nil {
		return nil, err
	}
	return k, nil
}
