"""Applications on top of the library: `inference` (`EmotionReasoner`, prediction with MI-ordered reasoning),
`demo` (the Gradio app) and `quickstart` (every stage end to end on a generated corpus)."""
