import PareCore
