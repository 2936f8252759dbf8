import Foundation
import HTTP
import Storage
import Uploads

/// Every route of API.md, registered on the executable's router.
public enum APIRoutes {
    public static func register(on router: Router, context: APIContext) {
        // Uploads are staged here; a crashed worker's leftovers go (live uploads stay).
        // 0750 like every directory of the store (the root included): recordings are
        // never readable by other users.
        try? FileManager.default.createDirectory(atPath: context.temporaryDirectory, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o750])
        TemporaryFiles.sweep(directory: context.temporaryDirectory)
        let recordings = RecordingRoutes(context: context)
        let list = ListRecordings(context: context)
        let save = SaveRecording(context: context)
        let settings = SettingsRoutes(context: context)
        let service = ServiceRoutes(context: context)

        // Errors (storage's included) say their own status: the router maps them (`ErrorResponse`).
        // Each request's storage work has one budget (see `Deadline`): reads the read
        // budget, small writes the save budget; a save sets its own once its upload
        // has arrived (the client's upload time is not the store's).
        let readBudget = Double(context.options.readBudgetSeconds)
        let writeBudget = Double(context.options.saveBudgetSeconds)
        func add(_ method: String, _ path: String, budget: Double? = nil, _ handler: @escaping Handler) {
            let seconds = budget ?? (method == "GET" || method == "HEAD" ? readBudget : writeBudget)
            router.add(method, path) { request, route in
                try Deadline.with(Deadline(secondsFromNow: seconds)) { try handler(request, route) }
            }
        }
        func addSave(_ method: String, _ path: String, _ handler: @escaping Handler) {
            router.add(method, path, handler)
        }
        addSave("POST", "/api/v1/save_recording_details", save.handle)
        // A listing pages through every key of the user (1,000 a page): the save budget,
        // and more per metadata document it has to fetch (see `ListRecordings`).
        add("GET", "/api/v1/user_recordings/{user_id}", budget: writeBudget, list.handle)
        add("GET", "/api/v1/recordings/{user_id}/{session_id}", recordings.get)
        add("DELETE", "/api/v1/recordings/{user_id}/{session_id}", recordings.delete)
        add("GET", "/api/v1/recordings/{user_id}/{session_id}/audio", recordings.audio)
        add("GET", "/api/v1/recordings/{user_id}/{session_id}/transcript", recordings.transcript)
        add("GET", "/api/v1/user_settings/{user_id}", settings.get)
        add("POST", "/api/v1/user_settings", settings.save)
        add("GET", "/api/v1/upload/storage-info", service.storageInfo)
        // Resumable uploads (tus 1.0.0): each answer carries Tus-Resumable, errors too.
        let uploads = UploadRoutes(context: context)
        router.add("OPTIONS", UploadRoutes.collection, uploads.options)
        router.add("OPTIONS", UploadRoutes.collection + "/{upload_id}", uploads.options)
        router.add("POST", UploadRoutes.collection, uploads.create)
        router.add("HEAD", UploadRoutes.collection + "/{upload_id}", uploads.head)
        router.add("PATCH", UploadRoutes.collection + "/{upload_id}", uploads.patch)
        router.add("DELETE", UploadRoutes.collection + "/{upload_id}", uploads.delete)
        router.add("POST", UploadRoutes.collection + "/{upload_id}", uploads.override)

        router.add("GET", "/healthz", service.health)
        add("GET", "/readyz", service.ready)

        // Operations: host metrics and pool status (allow-listed addresses only).
        let operations = OperationsRoutes(allowed: context.options.operationsAllowFrom, templates: { [router] in router.templates })
        router.add("GET", "/metrics", operations.metrics)
        router.add("GET", "/status", operations.status)
    }
}
