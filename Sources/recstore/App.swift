import API
import Auth
import RecstoreConfiguration
import HTTP
import Operations
import S3
import Storage

/// The wiring: every route the responder serves, built once per worker process
/// from the checked configuration (each worker loads its own JWKS and keeps its
/// own per-thread S3 connections).
enum App {
    static func makeResponder(_ configuration: Configuration) throws -> Responder {
        let authenticator = JWTAuthenticator(options: AuthOptions(configuration.identity))
        let local = LocalStore(root: configuration.storage.localDirectory,
                               listingRecheckSeconds: configuration.storage.listingRecheckSeconds)
        let bucket = try Stores.bucket(configuration)
        let storage = StorageService(configuration: configuration, local: local, s3: bucket)
        // Resumable uploads live in the active store (see `UploadStore`).
        let uploads: any UploadStore = switch configuration.storage.mode {
        case .local: LocalUploadStore(root: configuration.storage.localDirectory)
        case .s3: S3UploadStore(store: bucket!, stagingDirectory: local.temporaryDirectory)
        }
        let context = APIContext(options: APIOptions(configuration), authenticator: authenticator, storage: storage,
                                 temporaryDirectory: local.temporaryDirectory, uploads: uploads)
        let router = Router()
        APIRoutes.register(on: router, context: context)
        Housekeeping.start(storage, interval: configuration.retention.sweepIntervalSeconds)
        UploadSweeper.start(uploads, expirySeconds: configuration.uploads.expirySeconds)
        // CORS in front of the router: preflights never reach a route (or storage).
        return CORSResponder(wrapping: router, policy: CORSPolicy(allowedOrigins: configuration.server.corsAllowOrigins))
    }
}
