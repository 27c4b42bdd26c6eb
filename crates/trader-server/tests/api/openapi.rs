//! The committed OpenAPI document is what the code describes.

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = format!(
        "{}\n",
        serde_json::to_string_pretty(&trader_server::routes::openapi_document()).unwrap()
    );
    assert!(
        committed == generated,
        "openapi/openapi.json differs from the code's OpenAPI document: run scripts/openapi and commit the result"
    );
}

#[test]
fn every_operation_has_an_id_a_tag_and_an_error_schema() {
    let doc = serde_json::to_value(trader_server::routes::openapi_document()).unwrap();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{id}"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path}: no tag"
            );
            let default =
                &op["responses"]["default"]["content"]["application/json"]["schema"]["$ref"];
            assert_eq!(
                default, "#/components/schemas/ErrorBody",
                "{method} {path}: no error schema"
            );
        }
    }
    assert!(count >= 25, "{count} operations");
    for scheme in ["session", "csrf", "bearer"] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "{scheme}"
        );
    }
}
