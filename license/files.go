package license

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CreateFile writes a file through fill, refusing to replace one unless
// force. The mode is applied even when replacing, so that a private key never
// stays readable by others.
func CreateFile(path string, mode os.FileMode, force bool, fill func(io.Writer) error) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flags, mode)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists (pass --force to replace it)", path)
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// KeyPair is a new issuer key pair written by WriteKeyPair.
type KeyPair struct {
	Public           ed25519.PublicKey
	KeyPath, PubPath string
}

// WriteKeyPair creates an issuer key pair: DIR/issuer.key (mode 0600) and
// DIR/issuer.pub, replacing existing files only when force.
func WriteKeyPair(dir string, force bool) (KeyPair, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return KeyPair{}, err
	}
	kp := KeyPair{Public: pub, KeyPath: filepath.Join(dir, "issuer.key"), PubPath: filepath.Join(dir, "issuer.pub")}
	if err := CreateFile(kp.KeyPath, 0o600, force, func(w io.Writer) error { return WritePrivateKey(w, priv) }); err != nil {
		return KeyPair{}, err
	}
	if err := CreateFile(kp.PubPath, 0o644, force, func(w io.Writer) error { return WritePublicKey(w, pub) }); err != nil {
		return KeyPair{}, err
	}
	return kp, nil
}

// ReadPrivateKeyFile reads an issuer private key file (issuer.key).
func ReadPrivateKeyFile(path string) (ed25519.PrivateKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("issuer key: %w", err)
	}
	defer f.Close()
	return ParsePrivateKey(f, path)
}
