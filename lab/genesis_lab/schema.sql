-- genesis schema: the DDL of docs/genesis-contract.md section 4.1, verbatim.
CREATE TABLE accounts (account_id TEXT PRIMARY KEY, balance_usdt NUMERIC(20,8) NOT NULL,
  tier TEXT NOT NULL CHECK (tier IN ('SNIPER','HUNTER','STRATEGIST','ARCHITECT')),
  locked_features JSONB NOT NULL DEFAULT '[]', created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE positions (position_id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts,
  symbol TEXT NOT NULL, side TEXT NOT NULL CHECK (side IN ('LONG','SHORT')),
  entry_price NUMERIC(20,8) NOT NULL, current_price NUMERIC(20,8), quantity NUMERIC(20,8) NOT NULL,
  dollar_value NUMERIC(20,8) NOT NULL, pnl_dollars NUMERIC(20,8) NOT NULL DEFAULT 0,
  status TEXT NOT NULL CHECK (status IN ('OPEN','CLOSED')),
  close_reason TEXT CHECK (close_reason IN ('stop_loss','take_profit','manual','tilt_intervention','emergency')),
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(), closed_at TIMESTAMPTZ,
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE orders (order_id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts,
  position_id TEXT REFERENCES positions, client_order_id TEXT UNIQUE NOT NULL, exchange_order_id TEXT,
  symbol TEXT NOT NULL, type TEXT NOT NULL CHECK (type IN ('MARKET','LIMIT','STOP_LIMIT')),
  side TEXT NOT NULL CHECK (side IN ('BUY','SELL')), price NUMERIC(20,8), quantity NUMERIC(20,8) NOT NULL,
  filled_quantity NUMERIC(20,8) NOT NULL DEFAULT 0,
  status TEXT NOT NULL CHECK (status IN ('PENDING','PARTIAL','FILLED','CANCELLED','REJECTED','FAILED')),
  last_error TEXT, strategy TEXT, node TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(), executed_at TIMESTAMPTZ);
CREATE TABLE events (event_id BIGSERIAL PRIMARY KEY, event_type TEXT NOT NULL, aggregate_id TEXT NOT NULL,
  event_data JSONB NOT NULL DEFAULT '{}', sequence_number BIGINT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(), UNIQUE (aggregate_id, sequence_number));
CREATE TABLE tilt_profiles (profile_id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts,
  current_tilt_score NUMERIC(5,2) NOT NULL DEFAULT 0 CHECK (current_tilt_score BETWEEN 0 AND 100),
  tilt_level TEXT NOT NULL DEFAULT 'NORMAL' CHECK (tilt_level IN ('NORMAL','LEVEL1','LEVEL2','LEVEL3')),
  consecutive_losses INT NOT NULL DEFAULT 0, lockout_expiration TIMESTAMPTZ, last_intervention_at TIMESTAMPTZ);
CREATE TABLE tilt_events (tilt_event_id BIGSERIAL PRIMARY KEY, profile_id TEXT NOT NULL REFERENCES tilt_profiles,
  event_type TEXT NOT NULL, severity TEXT NOT NULL, description TEXT, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE position_correlations (symbol_1 TEXT NOT NULL, symbol_2 TEXT NOT NULL,
  correlation_coefficient NUMERIC(10,6) NOT NULL, calculated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (symbol_1, symbol_2));  -- no range CHECK, as in genesis
CREATE TABLE trading_sessions (session_id TEXT PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts,
  started_at TIMESTAMPTZ NOT NULL DEFAULT now(), ended_at TIMESTAMPTZ, total_trades INT NOT NULL DEFAULT 0,
  pnl_dollars NUMERIC(20,8) NOT NULL DEFAULT 0);
CREATE TABLE tier_transitions (transition_id BIGSERIAL PRIMARY KEY, account_id TEXT NOT NULL REFERENCES accounts,
  from_tier TEXT, to_tier TEXT NOT NULL, reason TEXT, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE notifications (notification_id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, severity TEXT NOT NULL,
  message TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now(), acknowledged_at TIMESTAMPTZ);
CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY);
