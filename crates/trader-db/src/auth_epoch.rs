//! The auth epoch: a counter that database triggers move whenever a
//! session ends or changes, a token is revoked or changed, or a user is
//! changed or deleted (see the `auth_epoch` migration). A server that
//! caches verified sessions and tokens polls it and drops its cache when it
//! moves.

use diesel::prelude::*;

use crate::schema::auth_epoch;
use crate::{DbConnection, DbError};

/// The current epoch.
pub fn current(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(auth_epoch::table
        .filter(auth_epoch::id.eq(1))
        .select(auth_epoch::epoch)
        .first(conn)?)
}
