package store

import (
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ocluster-go/ocluster/core"
)

// Client is a registered client and the SHA-256 hash of the secret in its
// capability file.
type Client struct {
	ID         string
	SecretHash []byte
}

// AddClient stores a new client and the SHA-256 hash of its secret; call it
// before the capability file is handed out and before the core registers
// the client (see the package documentation). It fails if the id is stored
// (core.ErrClientExists), or if the hash belongs to another client or to a
// revoked secret.
func (s *Store) AddClient(id string, secretHash []byte) error {
	if id == "" {
		return fmt.Errorf("add client: %w", core.ErrEmptyClientID)
	}
	if len(secretHash) != sha256.Size {
		return fmt.Errorf("add client %q: the secret hash has %d bytes, not %d: pass the SHA-256 hash of the secret, never the secret", id, len(secretHash), sha256.Size)
	}
	err := s.inTx(false, func(t *txn) error {
		var stored []byte
		switch err := t.queryRow(qClientSecret, id).Scan(&stored); {
		case err == nil:
			return core.ErrClientExists
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		owner, revoked, found, err := t.lookupSecret(secretHash)
		switch {
		case err != nil:
			return err
		case found && revoked:
			return fmt.Errorf("the secret hash is a revoked secret of client %q: make a new secret", owner)
		case found:
			return fmt.Errorf("the secret hash is the secret of client %q: make a new secret", owner)
		}
		return t.exec(qAddClient, id, secretHash, timestamp())
	})
	if err != nil {
		return fmt.Errorf("add client %q: %w", id, err)
	}
	return nil
}

// RemoveClient revokes the client's secret (LookupSecret then reports it as
// revoked) and deletes the client and its rates in every pool, in one
// transaction. It fails if the client is not stored (core.ErrUnknownClient).
func (s *Store) RemoveClient(id string) error {
	err := s.inTx(false, func(t *txn) error {
		found, err := t.removeClient(id)
		if err == nil && !found {
			return core.ErrUnknownClient
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("remove client %q: %w", id, err)
	}
	return nil
}

// removeClient removes the client, if it is stored, as RemoveClient says.
func (t *txn) removeClient(id string) (found bool, err error) {
	var hash []byte
	switch err := t.queryRow(qClientSecret, id).Scan(&hash); {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	}
	if err := t.exec(qRevokeSecret, hash, id, timestamp()); err != nil {
		return true, fmt.Errorf("revoke secret: %w", err)
	}
	if err := t.exec(qDeleteClientRates, id); err != nil {
		return true, fmt.Errorf("delete rates: %w", err)
	}
	if err := t.exec(qDeleteClient, id); err != nil {
		return true, fmt.Errorf("delete client: %w", err)
	}
	return true, nil
}

// Clients lists the stored clients, sorted by id; none is nil.
func (s *Store) Clients() ([]Client, error) {
	var out []Client
	err := s.inTx(true, func(t *txn) error {
		return t.each(qListClients, func(rows *sql.Rows) error {
			var c Client
			if err := rows.Scan(&c.ID, &c.SecretHash); err != nil {
				return err
			}
			out = append(out, c)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	return out, nil
}

// LookupSecret finds the client whose secret has this SHA-256 hash: found
// says whether one has, and revoked whether that secret was revoked (the
// client was removed).
func (s *Store) LookupSecret(hash []byte) (clientID string, revoked, found bool, err error) {
	err = s.inTx(true, func(t *txn) error {
		clientID, revoked, found, err = t.lookupSecret(hash)
		return err
	})
	if err != nil {
		return "", false, false, fmt.Errorf("look up secret: %w", err)
	}
	return clientID, revoked, found, nil
}

func (t *txn) lookupSecret(hash []byte) (clientID string, revoked, found bool, err error) {
	switch err := t.queryRow(qActiveSecret, hash).Scan(&clientID); {
	case err == nil:
		return clientID, false, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", false, false, err
	}
	switch err := t.queryRow(qRevokedSecret, hash).Scan(&clientID); {
	case err == nil:
		return clientID, true, true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", false, false, err
	}
	return "", false, false, nil
}

// timestamp is the time a row records (clients.created,
// revoked_secrets.revoked_at), for the operator who reads the database.
func timestamp() string {
	return time.Now().UTC().Format(time.RFC3339Nano)
}
