#include "docs.h"

#include <unistd.h>

#include <filesystem>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "vr/version.h"

namespace vr::http {

namespace {

// Kept as JSON text (parsed once below, so a typo fails at start-up, not in a browser).
constexpr const char* kOpenApiText = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "vr Video Recommender API",
    "description": "Video recommendations from an implicit-feedback ALS model, served on the Amazon SageMaker inference contract (GET /ping, POST /invocations on port 8080). Every error body is JSON: {\"detail\": ...}.",
    "version": "VERSION"
  },
  "paths": {
    "/ping": {
      "get": {
        "summary": "Health check",
        "description": "200 once the model is loaded, 503 before. Answered without touching the scoring pool, so it stays fast under load.",
        "operationId": "ping",
        "responses": {
          "200": {"description": "Ready", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Ping"}}}},
          "503": {"description": "The model is still loading", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}}
        }
      }
    },
    "/invocations": {
      "post": {
        "summary": "Get recommendations",
        "description": "Top-k videos for a known user (user_id), a user described by what they watched (history, fold-in), both (a known user refreshed with recent watches), or videos similar to one video (similar_to). With vr-serve --catalog, a hidden video or one outside its availability window is never returned, and categories / exclude_categories filter by the catalog's categories. A JSON body may instead hold {\"instances\": [...]} and is answered with {\"predictions\": [...]}, a failed instance replaced by its error object. An application/jsonlines body holds one request per line and gets exactly one answer line per line, in order.",
        "operationId": "invocations",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {"oneOf": [{"$ref": "#/components/schemas/InvocationRequest"}, {"$ref": "#/components/schemas/BatchRequest"}]},
              "examples": {
                "user": {"summary": "A known user", "value": {"user_id": "u001", "k": 3}},
                "history": {"summary": "Fold-in from watched videos", "value": {"history": ["v001", "v003"], "k": 3}},
                "similar": {"summary": "Similar videos", "value": {"similar_to": "v003", "k": 3}},
                "category": {"summary": "Only travel videos, with titles", "value": {"user_id": "u001", "k": 3, "categories": ["travel"], "fields": ["title", "categories"]}},
                "batch": {"summary": "Batch", "value": {"instances": [{"user_id": "u001"}, {"user_id": "u002", "k": 2}]}}
              }
            },
            "application/jsonlines": {
              "schema": {"type": "string", "description": "One InvocationRequest JSON object per line."},
              "example": "{\"user_id\": \"u001\", \"k\": 3}\n{\"user_id\": \"u002\"}\n"
            }
          }
        },
        "responses": {
          "200": {
            "description": "Recommendations",
            "content": {
              "application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/RecommendationResponse"}, {"$ref": "#/components/schemas/SimilarResponse"}, {"$ref": "#/components/schemas/BatchResponse"}]},
                                   "example": {"userId": "u001", "recommendations": [{"videoId": "v005", "score": 0.9101369380950928}, {"videoId": "v004", "score": 5.7891011238098145e-05}]}},
              "application/jsonlines": {"schema": {"type": "string", "description": "One answer (or ErrorItem) per input line."}}
            }
          },
          "400": {"description": "The body is not JSON at all", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}},
          "404": {"description": "Unknown user, or unknown video for similar_to, or no known video in history", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}, "example": {"detail": "User 'u999' not found"}}}},
          "406": {"description": "The Accept header admits no format of the answer", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}},
          "408": {"description": "The request (head and body) did not arrive within the read timeout (30 s by default)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}},
          "413": {"description": "The body is larger than the limit (6 MB by default), or the request asks for too much work: more than 1,000,000 recommendations (the sum of k over its instances or lines) or 100,000 explained ones, by default", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}},
          "415": {"description": "Content-Type is neither application/json nor application/jsonlines", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}},
          "431": {"description": "More than 100 headers, a header line over 8 KiB, or a request head over 64 KiB (the defaults)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}},
          "422": {"description": "Validation error (FastAPI's shape), including user_id and userId naming different users", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}},
          "500": {"description": "Unexpected failure", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}},
          "503": {"description": "The model is still loading", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}}
        }
      }
    },
    "/execution-parameters": {
      "get": {
        "summary": "Batch transform parameters",
        "operationId": "executionParameters",
        "responses": {"200": {"description": "What SageMaker Batch Transform should send", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ExecutionParameters"}}}}}
      }
    },
    "/metrics": {
      "get": {
        "summary": "Prometheus metrics",
        "operationId": "metrics",
        "responses": {"200": {"description": "Requests by route and status, latency histogram, model version, load time, users and videos", "content": {"text/plain": {"schema": {"type": "string"}}}}}
      }
    },
    "/openapi.json": {
      "get": {"summary": "This description", "operationId": "openapi", "responses": {"200": {"description": "OpenAPI 3 document", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    },
    "/docs": {
      "get": {"summary": "Swagger UI", "operationId": "swaggerUi", "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}}
    },
    "/redoc": {
      "get": {"summary": "ReDoc", "operationId": "redoc", "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}}
    },
    "/ui": {
      "get": {"summary": "Dashboard", "description": "Read-only dashboard: the model card, live traffic per route, a user's history and recommendations, a video's neighbours. It reads JSON under /ui/api/ (model, live, user?id=, video?id=). Not served with --no-ui.", "operationId": "dashboard", "responses": {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}}
    }
  },
  "components": {
    "schemas": {
      "Ping": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "example": "ok"}}},
      "InvocationRequest": {
        "type": "object",
        "description": "One of user_id (or its alias userId), history or similar_to is required; similar_to cannot be combined with the other two. Unknown fields are ignored.",
        "properties": {
          "user_id": {"type": "string", "description": "A user the model knows (or, with history, any id to echo back)", "example": "u001"},
          "userId": {"type": "string", "description": "Alias of user_id, spelled as the answers spell it; with both, they must be equal (else 422)", "example": "u001"},
          "k": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5, "description": "How many videos"},
          "history": {"type": "array", "items": {"type": "string"}, "maxItems": 10000, "description": "Videos the user watched: fold-in without retraining. Unknown ids are ignored."},
          "exclude": {"type": "array", "items": {"type": "string"}, "maxItems": 10000, "description": "Video ids to leave out"},
          "include_watched": {"type": "boolean", "default": false, "description": "Keep videos the user already watched"},
          "explain": {"type": "boolean", "default": false, "description": "Add a because list (watched videos' shares of each score)"},
          "similar_to": {"type": "string", "description": "Answer with the videos most similar to this one (cosine of item factors), itself first"},
          "categories": {"type": "array", "items": {"type": "string"}, "maxItems": 10000, "description": "Only videos with at least one of these categories (from vr-serve --catalog). A category no video has matches nothing; without a catalog no video has a category.", "example": ["travel"]},
          "exclude_categories": {"type": "array", "items": {"type": "string"}, "maxItems": 10000, "description": "No video with any of these categories", "example": ["music"]},
          "fields": {"type": "array", "items": {"type": "string", "enum": ["title", "categories"]}, "description": "Add these catalog fields to each recommendation (\"\" and [] for a video the catalog does not list); anything else is a 422 literal_error"}
        }
      },
      "BatchRequest": {"type": "object", "required": ["instances"], "properties": {"instances": {"type": "array", "maxItems": 10000, "items": {"$ref": "#/components/schemas/InvocationRequest"}}}},
      "Contribution": {"type": "object", "required": ["videoId", "contribution"], "properties": {"videoId": {"type": "string"}, "contribution": {"type": "number"}}},
      "Recommendation": {
        "type": "object", "required": ["videoId", "score"],
        "properties": {"videoId": {"type": "string", "example": "v005"}, "score": {"type": "number", "example": 0.91},
                       "because": {"type": "array", "items": {"$ref": "#/components/schemas/Contribution"}, "description": "Only with explain"},
                       "title": {"type": "string", "description": "Only when fields has title"},
                       "categories": {"type": "array", "items": {"type": "string"}, "description": "Only when fields has categories"}}
      },
      "RecommendationResponse": {
        "type": "object", "required": ["userId", "recommendations"],
        "properties": {"userId": {"type": "string", "nullable": true, "description": "The user_id asked for; null for a history-only request"},
                       "recommendations": {"type": "array", "items": {"$ref": "#/components/schemas/Recommendation"}}}
      },
      "SimilarResponse": {
        "type": "object", "required": ["similarTo", "recommendations"],
        "properties": {"similarTo": {"type": "string"}, "recommendations": {"type": "array", "items": {"$ref": "#/components/schemas/Recommendation"}}}
      },
      "ErrorItem": {
        "type": "object", "required": ["status", "detail"], "description": "Stands in for a failed batch instance or JSON line",
        "properties": {"status": {"type": "integer", "example": 404}, "detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}]}}
      },
      "BatchResponse": {
        "type": "object", "required": ["predictions"],
        "properties": {"predictions": {"type": "array", "items": {"oneOf": [{"$ref": "#/components/schemas/RecommendationResponse"}, {"$ref": "#/components/schemas/SimilarResponse"}, {"$ref": "#/components/schemas/ErrorItem"}]}}}
      },
      "ExecutionParameters": {
        "type": "object",
        "properties": {"MaxConcurrentTransforms": {"type": "integer"}, "BatchStrategy": {"type": "string", "enum": ["MULTI_RECORD", "SINGLE_RECORD"]}, "MaxPayloadInMB": {"type": "integer"}}
      },
      "HTTPError": {"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}},
      "ValidationError": {
        "type": "object", "required": ["loc", "msg", "type"],
        "properties": {"loc": {"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}, "msg": {"type": "string"}, "type": {"type": "string"},
                       "input": {}, "ctx": {"type": "object"}}
      },
      "HTTPValidationError": {"type": "object", "properties": {"detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}}}
    }
  }
})json";

std::string page(const std::string& head, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
         std::string(kApiTitle) + "</title>\n" + head + "</head>\n<body>\n" + body + "</body>\n</html>\n";
}

std::string executable_directory() {
  std::error_code error;
  const auto path = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string() : path.parent_path().string();
}

}  // namespace

const std::string& openapi_json() {
  static const std::string text = [] {
    nlohmann::json spec = nlohmann::json::parse(kOpenApiText);
    spec["info"]["version"] = kVersion;
    return spec.dump(2);
  }();
  return text;
}

const std::string& swagger_ui_html() {
  static const std::string html = page(
      std::string("<link rel=\"stylesheet\" type=\"text/css\" href=\"") + kDocsAssetsPath + "/swagger-ui.css\">\n" +
          "<link rel=\"icon\" type=\"image/png\" href=\"" + kDocsAssetsPath + "/favicon-32x32.png\">\n",
      std::string("<div id=\"swagger-ui\"></div>\n<script src=\"") + kDocsAssetsPath +
          "/swagger-ui-bundle.js\"></script>\n"
          "<script>\n"
          "window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui', layout: 'BaseLayout',\n"
          "  deepLinking: true, showExtensions: true, showCommonExtensions: true, validatorUrl: null,\n"
          "  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset]});\n"
          "</script>\n");
  return html;
}

const std::string& redoc_html() {
  static const std::string html =
      page("<style>body { margin: 0; padding: 0; }</style>\n",
           std::string("<noscript>ReDoc requires JavaScript.</noscript>\n"
                       "<redoc spec-url=\"/openapi.json\"></redoc>\n<script src=\"") +
               kDocsAssetsPath + "/redoc.standalone.js\"></script>\n");
  return html;
}

std::string find_docs_directory(const std::string& configured) {
  if (!configured.empty()) return configured;
  std::vector<std::string> candidates;
  if (const std::string exe = executable_directory(); !exe.empty()) candidates.push_back(exe + "/../share/vr/docs");
  candidates.push_back(VR_INSTALL_DOCS_DIR);
  for (const auto& candidate : candidates) {
    std::error_code error;
    if (std::filesystem::exists(candidate + "/swagger-ui-bundle.js", error)) {
      return std::filesystem::weakly_canonical(candidate, error).string();
    }
  }
  return {};
}

}  // namespace vr::http
