"""Hugging Face Space launcher of the MIGR demo; the app itself is `migr_hf.apps.demo`.

Space variables: MIGR_MODEL (required: a local path or a Hub model id), MIGR_LABEL_SET (dfew | mafw | emer),
MIGR_SAMPLES (folder of sample clips), MIGR_MAX_NEW_TOKENS (default 512).
"""

from migr_hf.apps.demo import demo_from_env

demo = demo_from_env()

if __name__ == "__main__":
    demo.launch()
