//! The JSON body extractor of the API: [`ApiJson`].
//!
//! actix's `web::Json` hands the body to serde, and serde's derived
//! `Deserialize` also reads a struct from a positional array
//! (`["alice", "secret"]` as a login). The API documents objects only, so
//! the body must be a JSON object; its fields are then read as usual.
//! Size, content type and syntax are checked by the app's `JsonConfig`,
//! whose errors answer in the envelope.

use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON object body deserialised into `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for ApiJson<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let value = value.await?.into_inner();
            if !value.is_object() {
                return Err(ApiError::Validation {
                    message: "the request body must be a JSON object".to_owned(),
                    fields: Default::default(),
                }
                .into());
            }
            serde_json::from_value::<T>(value)
                .map(ApiJson)
                .map_err(|e| crate::routes::body_error(&e).into())
        })
    }
}
