from django.apps import AppConfig


class ImagingConfig(AppConfig):
    name = "backend.imaging"
    label = "imaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backend.common.errors import register_domain_error
        from backend.imaging.core.errors import ImagingError

        register_domain_error(ImagingError, lambda exc: imaging_status(getattr(exc, "code", "")))


_STATUS = {
    "pixel_data_too_large": 413,
    "dataset_too_large": 413,
    "image_too_large": 413,
    "volume_too_large": 413,
    "zip_too_large": 413,
    "zip_too_many_members": 413,
    "upload_too_large": 413,
    "unsupported_transfer_syntax": 415,
    "frame_out_of_range": 404,
}


def imaging_status(code: str) -> int:
    return _STATUS.get(code, 400)
